from keras.layers import Dense, EinsumDense


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(8,)))
    model.add(EinsumDense("ab,bc->ac", 4, activation="relu", bias_axes="c"))
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
