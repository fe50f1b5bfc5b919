"""The admin dashboard: pages, tables and the seams to features built elsewhere."""
