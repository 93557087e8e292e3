"""Package data: demo content and (later) the knowledge base."""
