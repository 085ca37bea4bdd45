"""SpiLiFormer's feed-forward lateral-inhibition attention (FF-LiDiff) and QKFormer's token
attention (its ablation), made of stock LIF populations and fixed-weight synapses, so no Lava
process of their own (:mod:`.rules`)."""
