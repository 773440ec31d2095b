from keras.layers import Dense, StringLookup


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(3,), dtype="string"),
            StringLookup(vocabulary=("a", "b", "c")),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
