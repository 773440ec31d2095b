from keras.layers import Dense, ReLU


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(8,)),
            ReLU(max_value=6.0),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
