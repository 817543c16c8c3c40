"""The gateway (受理网关): the HTTP API in front of Temporal, described by its ``/openapi.json``.

The portal and operations staff reach the cases through it, partners post their signed
callbacks to it. ``create_app`` builds the FastAPI application; ``python -m gateway`` serves
it at ``ODS_GATEWAY_ADDR``.
"""
