"""The product's side of other parties' servers: the durable outbox and its
senders (the 12345 platform, WeChat's customer-service messages), and
WeChat's server API. Senders are given to the outbox worker explicitly by
the assembly (bot/app.py)."""
