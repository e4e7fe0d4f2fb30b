"""The web app for people: search by example, judge pairs by eye, follow and steer the rounds.

FastAPI on uvicorn, a client of the gRPC services acting with the signed-in person's own token.
"""
