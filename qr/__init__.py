"""Signed QR tokens: signing keys and their rotation, the key set, images, revocations."""
