"""Differential privacy as one layer, used by ``borderless run`` and ``borderless deploy`` alike.

``privacy.mechanism`` picks what is protected: ``example`` (DP-SGD inside each client: a sentence),
``client`` (clipped updates plus server-side noise: a client's whole data) or ``local`` (each client
clips and noises its own update before it leaves). ``accountant`` turns the parameters into (ε, δ)
with dp-accounting; ``plan`` fixes every client's noise from the config alone, so a Flower node and
the in-process simulation compute the same σ; ``dp_sgd`` and ``update_noise`` are the mechanisms.
"""
