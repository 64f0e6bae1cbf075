/* STM32F4/F7 GPIO alternate-function pin setup (RM0090 8.3.7 / 8.4, RM0385 6.3.7 / 6.4). */
#include "stm32_clock.h"

void stm32_gpio_af(uint32_t port, uint32_t pin, uint32_t af, uint32_t pull) {
  const uint32_t two = 2u * pin, four = 4u * (pin & 7u);
  GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << two)) | (GPIO_MODE_AF << two);
  GPIO_OSPEEDR(port) |= GPIO_SPEED_VERY_HIGH << two;
  GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << two)) | (pull << two);
  if (pin < 8u) {
    GPIO_AFRL(port) = (GPIO_AFRL(port) & ~(0xFu << four)) | (af << four);
  } else {
    GPIO_AFRH(port) = (GPIO_AFRH(port) & ~(0xFu << four)) | (af << four);
  }
}
