"""Small studies that go beyond a sweep table: Mirostat surprise control, EAD cost curves, decoder overhead."""
