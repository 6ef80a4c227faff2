"""One module per view: login, register, account, and the shared banner and messages."""
