"""What users call: the command line, the notebook magics, the language server, the importer."""
