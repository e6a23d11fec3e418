"""The shipped ``tasks-4l`` model: its tokenizer, training text, training and proof of the standard tasks."""
