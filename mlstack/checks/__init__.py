"""`mlstack validate`: schema checks and checklist rules over a stack's recording."""
