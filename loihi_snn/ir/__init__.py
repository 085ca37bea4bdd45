"""The network model every file is read into (:mod:`.graph`) and the custom layer interface
(:mod:`.layer_type`)."""
