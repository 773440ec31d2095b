from keras.layers import LSTM, Dense, Masking


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(12, 4)))
    model.add(Masking(mask_value=0.0))
    model.add(LSTM(4))
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
