"""The accuracy study: a synthetic speech corpus, training, pruning and fine-tuning (torch)."""
