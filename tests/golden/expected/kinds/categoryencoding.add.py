from keras.layers import CategoryEncoding, Dense


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(3,), dtype="int32"))
    model.add(CategoryEncoding(num_tokens=10, output_mode="multi_hot"))
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
