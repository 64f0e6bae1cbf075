"""Export: int8 TFLite -> graph IR -> memory plan + weight encoding -> generated C (Jinja)."""
