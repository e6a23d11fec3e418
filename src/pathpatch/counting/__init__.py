"""The paper's number study, "<|endoftext|> s s+1 s+2" -> " s+3" (see :mod:`.study`), and the shipped
counting model ``numbers-4l`` it runs on by default (trained by :mod:`.train`)."""
