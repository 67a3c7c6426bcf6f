"""Campaigns measured against a randomised, stratified holdout control group."""
