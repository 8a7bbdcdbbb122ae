"""HTTP edge: the only package importing FastAPI/Starlette. See app.create_app."""
