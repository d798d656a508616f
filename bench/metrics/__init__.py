"""Scoring shared by every method family: AUROC, bootstrap CIs, …"""
