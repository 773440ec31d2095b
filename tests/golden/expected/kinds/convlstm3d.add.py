from keras.layers import ConvLSTM3D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(3, 6, 6, 6, 1)))
    model.add(ConvLSTM3D(2, 3))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
