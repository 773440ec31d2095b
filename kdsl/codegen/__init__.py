"""The IR → a Keras script (`render`, with `explain`'s comments) or a diagram."""
