"""Accounts: the station's villages and staff profiles live in engine.station (every layer uses
them); this app keeps the language middleware, the language switch and the demo users."""
