from keras.layers import BatchNormalization, Dense


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(8,)))
    model.add(BatchNormalization(momentum=0.9))
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
