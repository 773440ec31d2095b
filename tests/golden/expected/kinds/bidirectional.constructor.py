from keras.layers import LSTM, Bidirectional, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(12, 4)),
            Bidirectional(LSTM(4, return_sequences=True), merge_mode="concat"),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
