"""The use cases behind the gateway and starter.py: case intake (受理) and everything done to a case
afterwards (``cases``), and what is done with alerts (``alerts``). Routers translate HTTP to these
calls and back; they hold no loop, no Temporal call and no SQL of their own."""
