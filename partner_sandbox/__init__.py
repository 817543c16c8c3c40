"""The partner-system sandbox: the registration system, the seal shops, the tax bureau, EMS, the
human resources and social security bureau, the housing provident fund centre and the banks as one
HTTP service with a test mode (docs/partner-api.md).

``python -m partner_sandbox`` serves it at ``ODS_SANDBOX_ADDR``; tests embed it with
``infra.serving.serve_in_background(create_app(settings, seed=...))``.
"""

from partner_sandbox.app import create_app, sandbox_of

__all__ = ["create_app", "sandbox_of"]
