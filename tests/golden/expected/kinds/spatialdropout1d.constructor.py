from keras.layers import Dense, Flatten, SpatialDropout1D


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(12, 4)),
            SpatialDropout1D(0.2),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
