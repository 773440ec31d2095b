"""The language: text → syntax tree (`nodes`), and a tree back to text (`fmt`).

It imports only the base modules (`kdsl.errors`, `kdsl.source`, `kdsl.resources`)."""
