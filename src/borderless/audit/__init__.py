"""Membership-inference audits of trained models (``borderless audit``): which training sentences can
an attacker tell from sentences the model never saw? ``membership`` splits the data by parallel
sentence id; ``metrics`` turns attack scores into AUC, TPR at low FPR and an empirical ε lower bound;
``loss_attack`` scores with the released model's loss; ``command`` runs the whole audit."""
