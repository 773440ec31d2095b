from keras.layers import ConvLSTM1D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(5, 12, 3)))
    model.add(ConvLSTM1D(4, 3))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
