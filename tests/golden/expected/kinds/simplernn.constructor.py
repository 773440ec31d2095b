from keras.layers import Dense, Flatten, SimpleRNN


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(12, 4)),
            SimpleRNN(6, activation="tanh"),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
