"""The gateway (受理网关): the HTTP API of CONTRACT §4 in front of Temporal.

The portal and operations staff reach the cases through it, partners post their signed
callbacks to it. ``create_app`` builds the FastAPI application; ``python -m gateway`` serves
it at ``ODS_GATEWAY_ADDR``.
"""
