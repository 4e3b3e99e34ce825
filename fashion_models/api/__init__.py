"""The HTTP service of the shop (`optuna-run serve`): routes, request bodies, status codes, JSON,
metrics. The only package that imports FastAPI, Starlette or uvicorn."""
