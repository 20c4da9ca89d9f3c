"""The ITSM endpoint agent: enrols with the server, reports inventory, answers live
snapshots and fleet questions, and runs signed jobs only after checking them locally.
The wire protocol is described in docs/agent.md."""

__version__ = "0.1.0"
