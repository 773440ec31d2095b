from keras.layers import ConvLSTM2D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(5, 8, 8, 3)))
    model.add(ConvLSTM2D(4, 3, return_sequences=True))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
