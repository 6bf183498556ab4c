"""Everything that talks SQL: schema objects, statements, connections."""
