"""token_select."""
