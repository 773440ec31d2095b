from keras.layers import Dense, Flatten, MaxPooling1D


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(12, 4)),
            MaxPooling1D(pool_size=3, strides=1),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
