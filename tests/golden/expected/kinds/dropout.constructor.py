from keras.layers import Dense, Dropout


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(8,)),
            Dropout(0.5, seed=1),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
