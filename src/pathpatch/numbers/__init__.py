"""The GPT-2 number study: "<|endoftext|> s s+1 s+2" -> " s+3" (see :mod:`.study`)."""
