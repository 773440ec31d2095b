from keras.layers import AdaptiveAveragePooling3D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(6, 6, 6, 2)))
    model.add(AdaptiveAveragePooling3D(2))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
