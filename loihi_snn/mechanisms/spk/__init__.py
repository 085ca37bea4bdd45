"""SpikeAtConv's SPK blocks (SL, RL, MBPL): activations of the residual models made of stock LIF
populations, so no Lava process of their own (:mod:`.block`)."""
