import torch

from borderless.federated.aggregators.median import coordinate_median


def s(*w):
    return {"w": torch.tensor(w, dtype=torch.float32)}


def test_odd_number_of_clients_takes_the_middle_value_per_coordinate():
    out = coordinate_median([(s(1.0, 10.0), 1), (s(2.0, 20.0), 1), (s(100.0, -5.0), 1)])
    assert torch.equal(out["w"], torch.tensor([2.0, 10.0]))


def test_even_number_averages_the_two_middle_values_and_ignores_example_counts():
    out = coordinate_median([(s(1.0), 1000), (s(3.0), 1), (s(10.0), 1), (s(100.0), 1)])
    assert out["w"].item() == 6.5  # (3 + 10) / 2; a huge claimed count buys nothing


def test_one_wild_client_of_three_cannot_move_it():
    honest = [(s(1.0, 1.0), 5), (s(1.2, 0.8), 5)]
    # the result stays between the honest values, whatever the third sends
    assert torch.equal(coordinate_median(honest + [(s(1e9, 1e9), 5)])["w"], torch.tensor([1.2, 1.0]))
    assert torch.equal(coordinate_median(honest + [(s(-1e9, -1e9), 5)])["w"], torch.tensor([1.0, 0.8]))
