"""Answering questions: the live knowledge base, matching a question to an entry, and the answer people see."""
