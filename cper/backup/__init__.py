"""Backups and reversibility: a restorable archive of the database and its files (`cper backup`,
`cper restore`), and a full export in open formats that rebuilds the figures in a new database
(`cper export_full`, `cper import_full`). See docs/sauvegarde.md."""
