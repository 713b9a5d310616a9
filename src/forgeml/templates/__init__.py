"""The files `forgeml init` writes for each modality (forgeml.new_experiment)."""
